/* ytree.c: a YAML document as a small tree with lines, read with libyaml (see ytree.h). */
#include "ytree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/*
 * libyaml turns the text into events, which yaml_node() builds into a small
 * tree (mappings, sequences, scalars, nulls) with the line of each key or
 * item; webconf.c's schema pass walks it. Both stop at the first error,
 * which names the line.
 */

/* Bounds: the schema needs three levels and a handful of keys. */
#define YAML_MAX_DEPTH 16
#define YAML_MAX_NODES 100000
/* The longest message before "NAME:LINE: ". */
#define YTREE_MSG_MAX 512

/* Records the first error as "NAME:LINE: message". */
void ytree_error(struct ytree *p, int line, const char *fmt, ...)
{
	char what[YTREE_MSG_MAX];
	va_list ap;

	if (p->err != 0)
		return;
	p->err = -EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->msg, p->msgsize, "%s:%d: %s", p->name, line, what);
	else
		snprintf(p->msg, p->msgsize, "%s: %s", p->name, what);
}

void ytree_oom(struct ytree *p)
{
	if (p->err != 0)
		return;
	p->err = -ENOMEM;
	snprintf(p->msg, p->msgsize, "%s: out of memory", p->name);
}

void ytree_free(struct ynode *n)
{
	while (n != NULL) {
		struct ynode *next = n->next;

		ytree_free(n->child);
		free(n->key);
		free(n->value);
		free(n);
		n = next;
	}
}

static struct ynode *ynode_new(struct ytree *p, enum ynode_type type, int line)
{
	struct ynode *n;

	if (++p->nodes > YAML_MAX_NODES) {
		ytree_error(p, line, "too many entries (more than %d)", YAML_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		ytree_oom(p);
		return NULL;
	}
	n->type = type;
	n->line = line;
	return n;
}

static void ynode_append(struct ynode *parent, struct ynode *n)
{
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
}

/* ---- the bytes ---- */

/*
 * Checks each byte before libyaml sees the text, so the message names the
 * byte and its line: no NUL, no control character but tab and newline,
 * CR only before LF (YAML would take a lone CR as a line end), valid UTF-8.
 */
static int yaml_bytes(struct ytree *p, const char *text, size_t len)
{
	int no = 1;

	for (size_t k = 0; k < len;) {
		unsigned char c = (unsigned char)text[k];
		size_t u;

		if (c == '\n') {
			no++;
			k++;
			continue;
		}
		if (c == '\r' && k + 1 < len && text[k + 1] == '\n') {
			k++;
			continue;
		}
		if (c == '\0') {
			ytree_error(p, no, "NUL byte");
			return -EINVAL;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			ytree_error(p, no, "control character 0x%02x", c);
			return -EINVAL;
		}
		u = utf8_char_len(text + k, len - k);
		if (u == 0) {
			ytree_error(p, no, "invalid UTF-8");
			return -EINVAL;
		}
		k += u;
	}
	return 0;
}

/* ---- the tree, from libyaml's events ---- */

/*
 * libyaml's problems that a web config's author most often meets, said in
 * the file's terms. at_start: the line is where the token began (a quote
 * never closed), not where libyaml gave up.
 */
static const struct {
	const char *problem;            /* a part of libyaml's message */
	const char *say;
	int at_start;
} yaml_hints[] = {
	{ "tab character", "tab in the indentation: indent with spaces", 0 },
	{ "unexpected end of stream", "quoted string not closed", 1 },
	{ "hexdecimal number", "short or bad hexadecimal escape in a double-quoted string", 0 },
	{ "invalid Unicode character escape", "escape for a surrogate or a code point out "
	    "of range in a double-quoted string", 0 },
	{ "did not find expected key", "unexpected indentation, or text after the closing "
	    "quote of a value", 0 },
	{ "did not find expected <document start>", "indented less than the first line of "
	    "the file", 0 },
	{ "mapping values are not allowed", "':' followed by a space in a plain value: quote "
	    "the value", 0 },
	{ "did not find expected '-' indicator", "expected a sequence item ('- value') "
	    "indented as the ones before", 0 },
};

/* Records libyaml's error at its line (1-based; libyaml counts from 0):
 * a hint from yaml_hints, or libyaml's own words. */
static void yaml_lib_error(struct ytree *p)
{
	const yaml_parser_t *lib = &p->lib;
	const char *problem = lib->problem != NULL ? lib->problem : "not YAML";
	size_t off = lib->problem_mark.index;
	char c = off < p->len ? p->text[off] : '\0';
	int line = (int)lib->problem_mark.line + 1;

	if (lib->error == YAML_MEMORY_ERROR) {
		ytree_oom(p);
		return;
	}
	for (size_t i = 0; i < sizeof(yaml_hints) / sizeof(yaml_hints[0]); i++) {
		if (strstr(problem, yaml_hints[i].problem) != NULL) {
			ytree_error(p, yaml_hints[i].at_start ? (int)lib->context_mark.line + 1 : line,
			    "%s", yaml_hints[i].say);
			return;
		}
	}
	if (strstr(problem, "cannot start any token") != NULL && c == '\t')
		ytree_error(p, line, "tab in the indentation: indent with spaces");
	else if (strstr(problem, "cannot start any token") != NULL && (c == '@' || c == '`'))
		ytree_error(p, line, "a plain value cannot start with '%c': quote it", c);
	else
		ytree_error(p, line, "%s%s%s", lib->context != NULL ? lib->context : "",
		    lib->context != NULL ? " " : "", problem);
}

/* The next event into *ev; on an error, recorded, -EINVAL. */
static int yaml_next(struct ytree *p, yaml_event_t *ev)
{
	if (yaml_parser_parse(&p->lib, ev))
		return 0;
	yaml_lib_error(p);
	return p->err;
}

static int event_line(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

/* Anchors, aliases and tags: YAML memprobed does not take (a web config
 * has no use for them, and aliases can multiply a small file). */
static int yaml_refused(struct ytree *p, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;
	int implicit = 1;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		ytree_error(p, event_line(ev), "aliases ('*') are not supported");
		return -EINVAL;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		implicit = ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		implicit = ev->data.sequence_start.implicit;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		implicit = ev->data.mapping_start.implicit;
		break;
	default:
		return 0;
	}
	if (anchor != NULL) {
		ytree_error(p, event_line(ev), "anchors ('&') are not supported");
		return -EINVAL;
	}
	if (tag != NULL && !implicit) {
		ytree_error(p, event_line(ev), "tags ('!') are not supported");
		return -EINVAL;
	}
	return 0;
}

/* A scalar event as a node: a null (plain ~, null or nothing) or a
 * string without NUL. */
static struct ynode *yaml_scalar(struct ytree *p, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	struct ynode *node;

	if (plain && (n == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0))
		return ynode_new(p, YN_NULL, event_line(ev));
	if (strlen(v) != n) {
		ytree_error(p, event_line(ev), "NUL in a string (escapes for NUL, a surrogate or "
		    "out of range are refused)");
		return NULL;
	}
	node = ynode_new(p, YN_SCALAR, event_line(ev));
	if (node == NULL)
		return NULL;
	node->quoted = !plain;
	node->value = strdup(v);
	if (node->value == NULL) {
		ytree_free(node);
		ytree_oom(p);
		return NULL;
	}
	return node;
}

static struct ynode *yaml_node(struct ytree *p, yaml_event_t *ev, int depth);

/* The key of a mapping entry: a scalar, not empty. Returns a new string
 * or NULL (recorded). */
static char *yaml_key(struct ytree *p, yaml_event_t *ev)
{
	char *key;

	if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
		ytree_error(p, event_line(ev), "complex keys (a list or mapping as a key) are not "
		    "supported");
		return NULL;
	}
	if (yaml_refused(p, ev) < 0)
		return NULL;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.length == 0) {
		ytree_error(p, event_line(ev), "a key cannot be empty");
		return NULL;
	}
	if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
		ytree_error(p, event_line(ev), "NUL in a key");
		return NULL;
	}
	key = strdup((const char *)ev->data.scalar.value);
	if (key == NULL)
		ytree_oom(p);
	return key;
}

/* The entries of a mapping (after its start event) into map, up to its
 * end event: distinct keys, each value on its key's line. */
static int yaml_entries(struct ytree *p, struct ynode *map, int depth)
{
	for (;;) {
		yaml_event_t ev;
		struct ynode *val;
		char *key;
		int line;

		if (yaml_next(p, &ev) < 0)
			return p->err;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		line = event_line(&ev);
		key = yaml_key(p, &ev);
		yaml_event_delete(&ev);
		if (key == NULL)
			return p->err;
		for (const struct ynode *dup = map->child; dup != NULL; dup = dup->next) {
			if (strcmp(dup->key, key) == 0) {
				ytree_error(p, line, "duplicate key \"%.64s\" (first on line %d)", key,
				    dup->line);
				free(key);
				return p->err;
			}
		}
		if (yaml_next(p, &ev) < 0) {
			free(key);
			return p->err;
		}
		val = yaml_node(p, &ev, depth);
		yaml_event_delete(&ev);
		if (val == NULL) {
			free(key);
			return p->err;
		}
		val->key = key;
		val->line = line;
		ynode_append(map, val);
	}
}

/* The items of a sequence (after its start event) into seq. */
static int yaml_items(struct ytree *p, struct ynode *seq, int depth)
{
	for (;;) {
		yaml_event_t ev;
		struct ynode *item;

		if (yaml_next(p, &ev) < 0)
			return p->err;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		item = yaml_node(p, &ev, depth);
		yaml_event_delete(&ev);
		if (item == NULL)
			return p->err;
		ynode_append(seq, item);
	}
}

/* The node that starts with *ev (which the caller deletes), at nesting
 * depth: a new tree, or NULL (recorded). */
static struct ynode *yaml_node(struct ytree *p, yaml_event_t *ev, int depth)
{
	struct ynode *n;
	int r;

	if (yaml_refused(p, ev) < 0)
		return NULL;
	if (ev->type == YAML_SCALAR_EVENT)
		return yaml_scalar(p, ev);
	if (depth + 1 > YAML_MAX_DEPTH) {
		ytree_error(p, event_line(ev), "nested deeper than %d levels", YAML_MAX_DEPTH);
		return NULL;
	}
	n = ynode_new(p, ev->type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ, event_line(ev));
	if (n == NULL)
		return NULL;
	r = n->type == YN_MAP ? yaml_entries(p, n, depth + 1) : yaml_items(p, n, depth + 1);
	if (r < 0) {
		ytree_free(n);
		return NULL;
	}
	return n;
}

/* Reads the document start: the only one, without directives. Returns 1
 * when there is a document, 0 for an empty stream, or -EINVAL. */
static int yaml_start(struct ytree *p)
{
	yaml_event_t ev;
	int r;

	if (yaml_next(p, &ev) < 0)
		return p->err;
	yaml_event_delete(&ev);                 /* the stream start */
	if (yaml_next(p, &ev) < 0)
		return p->err;
	r = ev.type == YAML_DOCUMENT_START_EVENT;
	if (r && (ev.data.document_start.version_directive != NULL ||
	    ev.data.document_start.tag_directives.start !=
	    ev.data.document_start.tag_directives.end)) {
		ytree_error(p, event_line(&ev), "YAML directives ('%%') are not supported");
		r = -EINVAL;
	}
	yaml_event_delete(&ev);
	return r;
}

/* Reads the document end and what follows: no '...' marker, no second
 * document. */
static int yaml_end(struct ytree *p)
{
	yaml_event_t ev;
	int r = 0;

	if (yaml_next(p, &ev) < 0)
		return p->err;
	if (!ev.data.document_end.implicit) {
		ytree_error(p, event_line(&ev), "document end marker ('...') is not supported");
		r = -EINVAL;
	}
	yaml_event_delete(&ev);
	if (r == 0 && yaml_next(p, &ev) == 0) {
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			ytree_error(p, event_line(&ev), "a second document ('---'): one document only");
			r = -EINVAL;
		}
		yaml_event_delete(&ev);
	}
	return p->err != 0 ? p->err : r;
}

/* The whole document: NULL for an empty one (or an error, in p->err). */
struct ynode *ytree_parse(struct ytree *p, const char *text, size_t len)
{
	struct ynode *root = NULL;
	yaml_event_t ev;

	if (yaml_bytes(p, text, len) < 0)
		return NULL;
	if (!yaml_parser_initialize(&p->lib)) {
		ytree_oom(p);
		return NULL;
	}
	p->text = text;
	p->len = len;
	yaml_parser_set_input_string(&p->lib, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&p->lib, YAML_UTF8_ENCODING);
	if (yaml_start(p) <= 0 || yaml_next(p, &ev) < 0)
		goto out;
	root = yaml_node(p, &ev, 0);
	yaml_event_delete(&ev);
	if (root != NULL && yaml_end(p) < 0) {
		ytree_free(root);
		root = NULL;
	}
	/* "---" and nothing else: an empty document, as an empty file. */
	if (root != NULL && root->type == YN_NULL) {
		ytree_free(root);
		root = NULL;
	}
out:
	yaml_parser_delete(&p->lib);
	return root;
}

const char *ytree_type_name(enum ynode_type t)
{
	switch (t) {
	case YN_NULL: return "nothing";
	case YN_SCALAR: return "a value";
	case YN_MAP: return "a mapping";
	case YN_SEQ: return "a sequence";
	}
	return "?";
}

