/* webconf.c: the web configuration file (--web.config.file): exporter-toolkit's format, read by a strict YAML-subset parser. */
#include "webconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Two passes. The YAML pass turns the text into a small tree (mappings,
 * sequences, scalars, nulls), line by line: each content line is either
 * "key: value", "key:" (a nested block or null follows) or "- value". The
 * schema pass walks the tree and fills struct webconf. Both stop at the
 * first error, which names the line.
 */

/* Bounds: the schema needs three levels and a handful of keys. */
#define YAML_MAX_DEPTH 16
#define YAML_MAX_NODES 100000
/* Files this big are not web configurations. */
#define WEBCONF_MAX_FILE (1024 * 1024)

enum ynode_type { YN_NULL, YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_type type;
	int line;                       /* of its key, or of the item */
	char *key;                      /* in a mapping; else NULL */
	char *value;                    /* YN_SCALAR, NUL-free */
	int quoted;                     /* a scalar that was quoted */
	struct ynode *child, *last;     /* YN_MAP, YN_SEQ: entries in order */
	struct ynode *next;
};

/* One content line: no blank or comment-only lines get here. */
struct yline {
	int no;
	int indent;                     /* spaces before s */
	const char *s;                  /* the text after the indentation */
	size_t len;                     /* up to the newline, CR and trailing blanks cut */
};

struct yparser {
	const char *name;
	struct yline *lines;
	size_t nlines, i;
	size_t nodes;
	int depth;
	int err;                        /* 0, -EINVAL or -ENOMEM */
	char *msg;
	size_t msgsize;
};

static void yerror(struct yparser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error as "NAME:LINE: message". */
static void yerror(struct yparser *p, int line, const char *fmt, ...)
{
	char what[WEBCONF_ERR_MAX];
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

static void yoom(struct yparser *p)
{
	if (p->err != 0)
		return;
	p->err = -ENOMEM;
	snprintf(p->msg, p->msgsize, "%s: out of memory", p->name);
}

static void ynode_free(struct ynode *n)
{
	while (n != NULL) {
		struct ynode *next = n->next;

		ynode_free(n->child);
		free(n->key);
		free(n->value);
		free(n);
		n = next;
	}
}

static struct ynode *ynode_new(struct yparser *p, enum ynode_type type, int line)
{
	struct ynode *n;

	if (++p->nodes > YAML_MAX_NODES) {
		yerror(p, line, "too many entries (more than %d)", YAML_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		yoom(p);
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

/* ---- the text, line by line ---- */

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if invalid:
 * overlong forms, surrogates and code points past U+10FFFF included. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (unsigned k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/*
 * Splits the text into content lines: checks each byte (no NUL, no control
 * character but tab, valid UTF-8, CR only before LF), skips blank and
 * comment lines, measures the indentation (spaces only) and handles the
 * document markers. Fills p->lines.
 */
static int yaml_lines(struct yparser *p, const char *text, size_t len)
{
	size_t pos = 0, cap = 0;
	int no = 0, seen_content = 0, seen_start = 0;

	/* A byte-order mark may open the file. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos;
		size_t n = 0, end, k;
		int indent = 0;

		no++;
		while (pos + n < len && text[pos + n] != '\n')
			n++;
		pos += n + (pos + n < len);
		end = n;
		if (end > 0 && line[end - 1] == '\r')
			end--;
		for (k = 0; k < end;) {
			unsigned char c = (unsigned char)line[k];
			size_t u;

			if (c == '\0') {
				yerror(p, no, "NUL byte");
				return -EINVAL;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				yerror(p, no, "control character 0x%02x", c);
				return -EINVAL;
			}
			u = utf8_len((const unsigned char *)line + k, end - k);
			if (u == 0) {
				yerror(p, no, "invalid UTF-8");
				return -EINVAL;
			}
			k += u;
		}
		while (indent < (int)end && line[indent] == ' ')
			indent++;
		while (end > (size_t)indent && (line[end - 1] == ' ' || line[end - 1] == '\t'))
			end--;
		if (end == (size_t)indent || line[indent] == '#')
			continue;               /* blank or a comment */
		if (line[indent] == '\t') {
			size_t t = (size_t)indent;

			while (line[t] == ' ' || line[t] == '\t')
				t++;
			if (line[t] == '#')
				continue;
			yerror(p, no, "tab in the indentation: indent with spaces");
			return -EINVAL;
		}
		if (indent == 0 && end >= 3 && memcmp(line, "---", 3) == 0 &&
		    (end == 3 || line[3] == ' ' || line[3] == '\t')) {
			const char *rest = line + 3;

			while (rest < line + end && (*rest == ' ' || *rest == '\t'))
				rest++;
			if (seen_content || seen_start) {
				yerror(p, no, "a second document ('---'): one document only");
				return -EINVAL;
			}
			if (rest < line + end && *rest != '#') {
				yerror(p, no, "content after '---': start the mapping on the next line");
				return -EINVAL;
			}
			seen_start = 1;
			continue;
		}
		if (indent == 0 && end >= 3 && memcmp(line, "...", 3) == 0 &&
		    (end == 3 || line[3] == ' ' || line[3] == '\t')) {
			yerror(p, no, "document end marker ('...') is not supported");
			return -EINVAL;
		}
		if (indent == 0 && line[0] == '%') {
			yerror(p, no, "YAML directives ('%%') are not supported");
			return -EINVAL;
		}
		if (p->nlines == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct yline *l = realloc(p->lines, ncap * sizeof(*l));

			if (l == NULL) {
				yoom(p);
				return -ENOMEM;
			}
			p->lines = l;
			cap = ncap;
		}
		p->lines[p->nlines].no = no;
		p->lines[p->nlines].indent = indent;
		p->lines[p->nlines].s = line + indent;
		p->lines[p->nlines].len = end - (size_t)indent;
		p->nlines++;
		seen_content = 1;
	}
	return 0;
}

/* ---- scalars ---- */

/* Appends code point cp to out as UTF-8. */
static size_t utf8_put(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Reads the quoted scalar at s (its opening quote; end is the end of the
 * line) into a new string at *out. Returns the position after the closing
 * quote, or NULL on error (recorded). No escape writes more than twice the
 * bytes it takes (\L: 2 for 3), which bounds the buffer.
 */
static const char *yaml_quoted(struct yparser *p, int no, const char *s, const char *end,
    char **out)
{
	char q = *s++;
	char *buf = malloc(2 * (size_t)(end - s) + 1), *o = buf;

	if (buf == NULL) {
		yoom(p);
		return NULL;
	}
	for (;;) {
		if (s >= end) {
			yerror(p, no, "%s-quoted string not closed on its line "
			    "(multi-line strings are not supported)", q == '"' ? "double" : "single");
			goto fail;
		}
		if (*s == q) {
			if (q == '\'' && s + 1 < end && s[1] == '\'') {
				*o++ = '\'';
				s += 2;
				continue;
			}
			s++;
			break;
		}
		if (q == '"' && *s == '\\') {
			unsigned cp = 0;
			int digits = 0;

			if (s + 1 >= end) {
				yerror(p, no, "'\\' at the end of the line in a double-quoted string");
				goto fail;
			}
			switch (s[1]) {
			case '\\': *o++ = '\\'; break;
			case '"': *o++ = '"'; break;
			case '/': *o++ = '/'; break;
			case ' ': *o++ = ' '; break;
			case '\t': *o++ = '\t'; break;
			case 'a': *o++ = '\a'; break;
			case 'b': *o++ = '\b'; break;
			case 't': *o++ = '\t'; break;
			case 'n': *o++ = '\n'; break;
			case 'v': *o++ = '\v'; break;
			case 'f': *o++ = '\f'; break;
			case 'r': *o++ = '\r'; break;
			case 'e': *o++ = '\x1b'; break;
			case 'N': o += utf8_put(o, 0x85); break;
			case '_': o += utf8_put(o, 0xa0); break;
			case 'L': o += utf8_put(o, 0x2028); break;
			case 'P': o += utf8_put(o, 0x2029); break;
			case 'x': digits = 2; break;
			case 'u': digits = 4; break;
			case 'U': digits = 8; break;
			case '0':
				yerror(p, no, "NUL ('\\0') in a string");
				goto fail;
			default:
				yerror(p, no, "unknown escape '\\%c' in a double-quoted string",
				    (unsigned char)s[1] >= 0x20 && (unsigned char)s[1] < 0x7f ? s[1] : '?');
				goto fail;
			}
			s += 2;
			if (digits == 0)
				continue;
			if (end - s < digits) {
				yerror(p, no, "short hexadecimal escape in a double-quoted string");
				goto fail;
			}
			for (int k = 0; k < digits; k++) {
				int h = hexval(s[k]);

				if (h < 0) {
					yerror(p, no, "bad hexadecimal escape in a double-quoted string");
					goto fail;
				}
				cp = cp << 4 | (unsigned)h;
			}
			s += digits;
			if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
				yerror(p, no, "escape for code point 0x%x: NUL, a surrogate or out of range", cp);
				goto fail;
			}
			/* \xXX is a code point too (YAML 1.2), 2 bytes at most. */
			o += utf8_put(o, cp);
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	*out = buf;
	return s;
fail:
	free(buf);
	return NULL;
}

/* Whether the rest of the line from s is blanks, then nothing or a comment. */
static int yaml_rest_empty(const char *s, const char *end)
{
	const char *t = s;

	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	return t == end || (*t == '#' && t > s);
}

/* Whether c ends a plain scalar before a comment: " #". */
static int yaml_comment_at(const char *s, const char *start)
{
	return *s == '#' && s > start && (s[-1] == ' ' || s[-1] == '\t');
}

/*
 * Reads the value on the rest of a line (from s, not blank) into a new
 * node: a scalar (plain or quoted), a null, {} or []. Everything else YAML
 * has is refused by name.
 */
static struct ynode *yaml_inline(struct yparser *p, int no, const char *s, const char *end)
{
	struct ynode *n;
	const char *t;
	char c = *s;

	switch (c) {
	case '{':
	case '[':
		t = s + 1;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		if (t >= end || *t != (c == '{' ? '}' : ']') || !yaml_rest_empty(t + 1, end)) {
			yerror(p, no, "flow %s ('%c ... %c') are not supported except the empty '%s'",
			    c == '{' ? "mappings" : "sequences", c, c == '{' ? '}' : ']',
			    c == '{' ? "{}" : "[]");
			return NULL;
		}
		return ynode_new(p, c == '{' ? YN_MAP : YN_SEQ, no);
	case '|':
	case '>':
		yerror(p, no, "block scalars ('%c') are not supported: write the value on one line", c);
		return NULL;
	case '&':
		yerror(p, no, "anchors ('&') are not supported");
		return NULL;
	case '*':
		yerror(p, no, "aliases ('*') are not supported");
		return NULL;
	case '!':
		yerror(p, no, "tags ('!') are not supported");
		return NULL;
	case '@':
	case '`':
	case '%':
	case ',':
	case ']':
	case '}':
		yerror(p, no, "a plain value cannot start with '%c': quote it", c);
		return NULL;
	case '"':
	case '\'':
		n = ynode_new(p, YN_SCALAR, no);
		if (n == NULL)
			return NULL;
		t = yaml_quoted(p, no, s, end, &n->value);
		if (t == NULL) {
			free(n);
			return NULL;
		}
		if (!yaml_rest_empty(t, end)) {
			yerror(p, no, "text after the closing quote");
			free(n->value);
			free(n);
			return NULL;
		}
		n->quoted = 1;
		return n;
	default:
		break;
	}
	if ((c == '-' || c == '?' || c == ':') && (s + 1 == end || s[1] == ' ' || s[1] == '\t')) {
		yerror(p, no, c == '-' ? "a sequence item where a value was expected "
		    "(nested sequences are not supported)" : c == '?' ?
		    "complex keys ('? ') are not supported" : "a value cannot start with ': '");
		return NULL;
	}
	/* A plain scalar: up to a comment or the end; ": " inside would make
	 * it a mapping, which is not allowed here. */
	for (t = s; t < end && !yaml_comment_at(t, s); t++) {
		if (*t == ':' && (t + 1 == end || t[1] == ' ' || t[1] == '\t')) {
			yerror(p, no, "':' followed by a space in a plain value: quote the value "
			    "(mappings inside values and sequences are not supported)");
			return NULL;
		}
	}
	while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
		t--;
	if ((t - s == 1 && *s == '~') || (t - s == 4 && (memcmp(s, "null", 4) == 0 ||
	    memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0)))
		return ynode_new(p, YN_NULL, no);
	n = ynode_new(p, YN_SCALAR, no);
	if (n == NULL)
		return NULL;
	n->value = strndup(s, (size_t)(t - s));
	if (n->value == NULL) {
		free(n);
		yoom(p);
		return NULL;
	}
	return n;
}

/* ---- blocks ---- */

static int yaml_is_item(const struct yline *l)
{
	return l->s[0] == '-' && (l->len == 1 || l->s[1] == ' ' || l->s[1] == '\t');
}

static struct ynode *yaml_block(struct yparser *p, int indent);

/*
 * A sequence whose items start at `indent`. in_map: it is the value of a
 * key at the same indentation (YAML allows that), so a line that is not
 * an item ends it instead of being an error.
 */
static struct ynode *yaml_seq(struct yparser *p, int indent, int in_map)
{
	struct ynode *seq = ynode_new(p, YN_SEQ, p->lines[p->i].no);

	if (seq == NULL)
		return NULL;
	while (p->i < p->nlines) {
		const struct yline *l = &p->lines[p->i];
		const char *s, *end = l->s + l->len;
		struct ynode *item;

		if (l->indent < indent)
			break;
		if (l->indent > indent) {
			yerror(p, l->no, "unexpected indentation (a value cannot continue on "
			    "the next line)");
			goto fail;
		}
		if (!yaml_is_item(l)) {
			if (in_map)
				break;
			yerror(p, l->no, "expected a sequence item ('- value')");
			goto fail;
		}
		s = l->s + 1;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end || *s == '#') {
			yerror(p, l->no, "an empty sequence item, or a nested block under it: "
			    "only one-line values are supported in sequences");
			goto fail;
		}
		item = yaml_inline(p, l->no, s, end);
		if (item == NULL)
			goto fail;
		ynode_append(seq, item);
		p->i++;
	}
	return seq;
fail:
	ynode_free(seq);
	return NULL;
}

/* Reads a key at s (plain or quoted) up to its ':'; returns the position
 * after the ':' or NULL (recorded). */
static const char *yaml_key(struct yparser *p, const struct yline *l, char **key)
{
	const char *s = l->s, *end = l->s + l->len, *t;

	if (*s == '"' || *s == '\'') {
		t = yaml_quoted(p, l->no, s, end, key);
		if (t == NULL)
			return NULL;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		if (t >= end || *t != ':' || (t + 1 < end && t[1] != ' ' && t[1] != '\t')) {
			yerror(p, l->no, "expected ':' after the quoted key");
			free(*key);
			*key = NULL;
			return NULL;
		}
		return t + 1;
	}
	switch (*s) {
	case '{': case '[': case '&': case '*': case '!': case '|': case '>':
	case '@': case '`': case '%': case ',': case ']': case '}':
		yerror(p, l->no, "expected \"key: value\"; a key cannot start with '%c'", *s);
		return NULL;
	case '?':
		if (l->len == 1 || s[1] == ' ' || s[1] == '\t') {
			yerror(p, l->no, "complex keys ('? ') are not supported");
			return NULL;
		}
		break;
	case ':':
		if (l->len == 1 || s[1] == ' ' || s[1] == '\t') {
			yerror(p, l->no, "a key cannot be empty");
			return NULL;
		}
		break;
	default:
		break;
	}
	for (t = s; t < end; t++) {
		if (yaml_comment_at(t, s))
			break;
		if (*t == ':' && (t + 1 == end || t[1] == ' ' || t[1] == '\t')) {
			const char *k = t;

			while (k > s && (k[-1] == ' ' || k[-1] == '\t'))
				k--;
			*key = strndup(s, (size_t)(k - s));
			if (*key == NULL) {
				yoom(p);
				return NULL;
			}
			return t + 1;
		}
	}
	yerror(p, l->no, "expected \"key: value\" or \"key:\" (with a space after the ':')");
	return NULL;
}

/* A mapping whose keys start at `indent`. */
static struct ynode *yaml_map(struct yparser *p, int indent)
{
	struct ynode *map = ynode_new(p, YN_MAP, p->lines[p->i].no);

	if (map == NULL)
		return NULL;
	while (p->i < p->nlines) {
		const struct yline *l = &p->lines[p->i];
		const char *s, *end = l->s + l->len;
		struct ynode *val = NULL, *dup;
		char *key = NULL;

		if (l->indent < indent)
			break;
		if (l->indent > indent) {
			yerror(p, l->no, "unexpected indentation (a value cannot continue on "
			    "the next line)");
			goto fail;
		}
		if (yaml_is_item(l)) {
			yerror(p, l->no, "a sequence item where \"key: value\" was expected");
			goto fail;
		}
		s = yaml_key(p, l, &key);
		if (s == NULL)
			goto fail;
		for (dup = map->child; dup != NULL; dup = dup->next) {
			if (strcmp(dup->key, key) == 0) {
				yerror(p, l->no, "duplicate key \"%.64s\" (first on line %d)",
				    key, dup->line);
				free(key);
				goto fail;
			}
		}
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		p->i++;
		if (s == end || *s == '#') {
			/* "key:": a block below, more indented (or a sequence at
			 * the same indentation), else null. */
			const struct yline *next = p->i < p->nlines ? &p->lines[p->i] : NULL;

			if (next != NULL && next->indent > indent)
				val = yaml_block(p, next->indent);
			else if (next != NULL && next->indent == indent && yaml_is_item(next))
				val = yaml_seq(p, indent, 1);
			else
				val = ynode_new(p, YN_NULL, l->no);
		} else {
			val = yaml_inline(p, l->no, s, end);
			if (val != NULL && p->i < p->nlines && p->lines[p->i].indent > indent) {
				yerror(p, p->lines[p->i].no, "unexpected indentation (a value "
				    "cannot continue on the next line)");
				ynode_free(val);
				val = NULL;
			}
		}
		if (val == NULL) {
			free(key);
			goto fail;
		}
		val->key = key;
		val->line = l->no;
		ynode_append(map, val);
	}
	return map;
fail:
	ynode_free(map);
	return NULL;
}

/* The block starting at the current line, which is indented `indent`. */
static struct ynode *yaml_block(struct yparser *p, int indent)
{
	struct ynode *n;

	if (++p->depth > YAML_MAX_DEPTH) {
		yerror(p, p->lines[p->i].no, "nested deeper than %d levels", YAML_MAX_DEPTH);
		return NULL;
	}
	n = yaml_is_item(&p->lines[p->i]) ? yaml_seq(p, indent, 0) : yaml_map(p, indent);
	p->depth--;
	return n;
}

/* The whole document: NULL for an empty one (or an error, in p->err). */
static struct ynode *yaml_document(struct yparser *p)
{
	struct ynode *root;

	if (p->nlines == 0)
		return NULL;
	root = yaml_block(p, p->lines[0].indent);
	if (root != NULL && p->i < p->nlines) {
		/* Only a line less indented than the first can stop it. */
		yerror(p, p->lines[p->i].no, "indented less than the first line of the file");
		ynode_free(root);
		return NULL;
	}
	return root;
}

/* ---- the schema ---- */

struct wparser {
	struct yparser *y;
	struct webconf *wc;
};

static const char *ytype_name(enum ynode_type t)
{
	switch (t) {
	case YN_NULL: return "nothing";
	case YN_SCALAR: return "a value";
	case YN_MAP: return "a mapping";
	case YN_SEQ: return "a sequence";
	}
	return "?";
}

static int webconf_warn(struct webconf *wc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int webconf_warn(struct webconf *wc, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	if (wc->nwarnings >= WEBCONF_MAX_WARNINGS)
		return 0;
	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	wc->warnings[wc->nwarnings++] = s;
	return 0;
}

/* A string setting: a scalar, or null (unset). */
static int want_string(struct wparser *w, const struct ynode *n, const char *section,
    char **out, int *line)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type != YN_SCALAR) {
		yerror(w->y, n->line, "%s.%s: expected a string, found %s", section, n->key,
		    ytype_name(n->type));
		return -EINVAL;
	}
	free(*out);
	*out = strdup(n->value);
	if (*out == NULL) {
		yoom(w->y);
		return -ENOMEM;
	}
	if (line != NULL)
		*line = n->line;
	return 0;
}

/* A mapping setting: a mapping or null. */
static int want_map(struct wparser *w, const struct ynode *n, const char *what)
{
	if (n->type == YN_MAP || n->type == YN_NULL)
		return 0;
	yerror(w->y, n->line, "%s: expected a mapping, found %s", what, ytype_name(n->type));
	return -EINVAL;
}

static int tls_version(struct wparser *w, const struct ynode *n, int *out)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type == YN_SCALAR && strcmp(n->value, "TLS12") == 0) {
		*out = WEBCONF_TLS12;
		return 0;
	}
	if (n->type == YN_SCALAR && strcmp(n->value, "TLS13") == 0) {
		*out = WEBCONF_TLS13;
		return 0;
	}
	if (n->type == YN_SCALAR && (strcmp(n->value, "TLS10") == 0 ||
	    strcmp(n->value, "TLS11") == 0)) {
		yerror(w->y, n->line, "tls_server_config.%s: %s is not supported: "
		    "memprobed speaks TLS 1.2 and 1.3 only", n->key, n->value);
		return -EINVAL;
	}
	yerror(w->y, n->line, "tls_server_config.%s: expected TLS12 or TLS13", n->key);
	return -EINVAL;
}

static const struct {
	const char *name;
	enum webconf_client_auth a;
} client_auths[] = {
	{ "NoClientCert", WEBCONF_NO_CLIENT_CERT },
	{ "RequestClientCert", WEBCONF_REQUEST_CLIENT_CERT },
	{ "RequireAnyClientCert", WEBCONF_REQUIRE_ANY_CLIENT_CERT },
	{ "RequireClientCert", WEBCONF_REQUIRE_ANY_CLIENT_CERT },     /* exporter-toolkit's old name */
	{ "VerifyClientCertIfGiven", WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN },
	{ "RequireAndVerifyClientCert", WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT },
};

const char *webconf_client_auth_name(enum webconf_client_auth a)
{
	for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++)
		if (client_auths[i].a == a)
			return client_auths[i].name;
	return "?";
}

static int client_auth(struct wparser *w, const struct ynode *n, int *line)
{
	if (n->type == YN_NULL)
		return 0;
	if (n->type == YN_SCALAR) {
		for (size_t i = 0; i < sizeof(client_auths) / sizeof(client_auths[0]); i++) {
			if (strcmp(n->value, client_auths[i].name) == 0) {
				w->wc->client_auth = client_auths[i].a;
				*line = n->line;
				return 0;
			}
		}
	}
	yerror(w->y, n->line, "tls_server_config.client_auth_type: expected NoClientCert, "
	    "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or "
	    "RequireAndVerifyClientCert");
	return -EINVAL;
}

/*
 * The cipher suites Go's crypto/tls calls secure (tls.CipherSuites(), the
 * list exporter-toolkit takes names from), and how GnuTLS makes each.
 */
static const struct webconf_suite suites[] = {
	{ "TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, "RSA", "AES-128-CBC", "SHA1" },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, "RSA", "AES-256-CBC", "SHA1" },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, "RSA", "AES-128-GCM", "AEAD" },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, "RSA", "AES-256-GCM", "AEAD" },
	{ "TLS_AES_128_GCM_SHA256", 0x1301, NULL, NULL, NULL },
	{ "TLS_AES_256_GCM_SHA384", 0x1302, NULL, NULL, NULL },
	{ "TLS_CHACHA20_POLY1305_SHA256", 0x1303, NULL, NULL, NULL },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, "ECDHE-ECDSA", "AES-128-CBC", "SHA1" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, "ECDHE-ECDSA", "AES-256-CBC", "SHA1" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, "ECDHE-RSA", "AES-128-CBC", "SHA1" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, "ECDHE-RSA", "AES-256-CBC", "SHA1" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b, "ECDHE-ECDSA", "AES-128-GCM", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c, "ECDHE-ECDSA", "AES-256-GCM", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f, "ECDHE-RSA", "AES-128-GCM", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030, "ECDHE-RSA", "AES-256-GCM", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9, "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD" },
};

/* Suites Go has but memprobed does not offer: 3DES (Sweet32), RC4 and the
 * CBC-SHA256 ones (Go's InsecureCipherSuites(); GnuTLS leaves 3DES and RC4
 * out of its NORMAL set). */
static const char *const refused_suites[] = {
	"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	"TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
	"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
};

/* exporter-toolkit's curves. */
static const struct webconf_curve curves[] = {
	{ "CurveP256", "GROUP-SECP256R1" },
	{ "CurveP384", "GROUP-SECP384R1" },
	{ "CurveP521", "GROUP-SECP521R1" },
	{ "X25519", "GROUP-X25519" },
};

const struct webconf_suite *webconf_suite_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].name, name) == 0)
			return &suites[i];
	return NULL;
}

const struct webconf_suite *webconf_suite_by_id(unsigned id)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

/*
 * A list setting: a sequence of strings, or null (unset; *items NULL).
 * Each item must be a scalar and appear once. Returns 0 with the first
 * item in *items, or -EINVAL (recorded).
 */
static int want_list(struct wparser *w, const struct ynode *n, const char *in,
    const struct ynode **items)
{
	*items = NULL;
	if (n->type == YN_NULL)
		return 0;
	if (n->type != YN_SEQ) {
		yerror(w->y, n->line, "%s%s: expected a list (\"- value\" lines), found %s", in,
		    n->key, ytype_name(n->type));
		return -EINVAL;
	}
	for (const struct ynode *i = n->child; i != NULL; i = i->next) {
		if (i->type != YN_SCALAR) {
			yerror(w->y, i->line, "%s%s: expected a string, found %s", in, n->key,
			    ytype_name(i->type));
			return -EINVAL;
		}
		for (const struct ynode *j = n->child; j != i; j = j->next) {
			if (strcmp(i->value, j->value) == 0) {
				yerror(w->y, i->line, "%s%s: \"%.64s\" is listed twice (first on "
				    "line %d)", in, n->key, i->value, j->line);
				return -EINVAL;
			}
		}
	}
	*items = n->child;
	return 0;
}

static int cipher_suites(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	const struct ynode *i;
	char alias[96];

	if (want_list(w, n, "tls_server_config.", &i) < 0)
		return -EINVAL;
	wc->suites_line = n->line;
	for (; i != NULL; i = i->next) {
		const struct webconf_suite *s = webconf_suite_by_name(i->value);

		if (s != NULL) {
			/* Distinct names, so the table's size bounds the list. */
			wc->suites[wc->nsuites++] = s;
			continue;
		}
		for (size_t k = 0; k < sizeof(refused_suites) / sizeof(refused_suites[0]); k++) {
			if (strcmp(refused_suites[k], i->value) == 0) {
				yerror(w->y, i->line, "tls_server_config.cipher_suites: %s is not "
				    "offered by memprobed (3DES, RC4 and CBC-SHA256 suites are "
				    "insecure); list AES-GCM or ChaCha20 ones", i->value);
				return -EINVAL;
			}
		}
		/* Go's constants without _SHA256 are aliases, not suite names. */
		snprintf(alias, sizeof(alias), "%.80s_SHA256", i->value);
		if (webconf_suite_by_name(alias) != NULL)
			yerror(w->y, i->line, "tls_server_config.cipher_suites: unknown cipher "
			    "suite \"%.64s\" (did you mean %s?)", i->value, alias);
		else
			yerror(w->y, i->line, "tls_server_config.cipher_suites: unknown cipher "
			    "suite \"%.64s\" (expected a name from Go's tls.CipherSuites(), such "
			    "as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)", i->value);
		return -EINVAL;
	}
	return 0;
}

static int curve_preferences(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	const struct ynode *i;

	if (want_list(w, n, "tls_server_config.", &i) < 0)
		return -EINVAL;
	wc->curves_line = n->line;
	for (; i != NULL; i = i->next) {
		size_t k;

		for (k = 0; k < sizeof(curves) / sizeof(curves[0]); k++)
			if (strcmp(curves[k].name, i->value) == 0)
				break;
		if (k == sizeof(curves) / sizeof(curves[0])) {
			yerror(w->y, i->line, "tls_server_config.curve_preferences: unknown curve "
			    "\"%.64s\" (expected CurveP256, CurveP384, CurveP521 or X25519)",
			    i->value);
			return -EINVAL;
		}
		wc->curves[wc->ncurves++] = &curves[k];
	}
	return 0;
}

/*
 * A list of distinct non-empty strings (want_list() checks the first),
 * copied into *out (*count of them); in is the key's parent for messages
 * ("tls_server_config." or ""), item what one entry is. An empty list
 * leaves *out NULL.
 */
static int string_list(struct wparser *w, const struct ynode *n, const char *in,
    const char *item, char ***out, size_t *count)
{
	const struct ynode *i;
	size_t len = 0;

	if (want_list(w, n, in, &i) < 0)
		return -EINVAL;
	for (const struct ynode *k = i; k != NULL; k = k->next)
		len++;
	if (len == 0)
		return 0;
	*out = calloc(len, sizeof(**out));
	if (*out == NULL) {
		yoom(w->y);
		return -ENOMEM;
	}
	for (; i != NULL; i = i->next) {
		if (i->value[0] == '\0') {
			yerror(w->y, i->line, "%s%s: an empty %s", in, n->key, item);
			return -EINVAL;
		}
		(*out)[*count] = strdup(i->value);
		if ((*out)[*count] == NULL) {
			yoom(w->y);
			return -ENOMEM;
		}
		(*count)++;
	}
	return 0;
}

static int client_allowed_sans(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	int r;

	if (n->type == YN_NULL)
		return 0;
	r = string_list(w, n, "tls_server_config.", "name", &wc->sans, &wc->nsans);
	/* exporter-toolkit would refuse every client: surely not meant. */
	if (r == 0 && wc->nsans == 0) {
		yerror(w->y, n->line, "tls_server_config.client_allowed_sans is empty: no "
		    "client certificate could match; list SANs or remove the key");
		return -EINVAL;
	}
	wc->sans_line = n->line;
	return r;
}

/* auth_excluded_paths: URL paths served without basic auth. */
static int auth_excluded_paths(struct wparser *w, const struct ynode *n)
{
	struct webconf *wc = w->wc;
	int r;

	if (n->type == YN_NULL)
		return 0;
	r = string_list(w, n, "", "path", &wc->excluded, &wc->nexcluded);
	for (size_t k = 0; k < wc->nexcluded && r == 0; k++) {
		if (wc->excluded[k][0] != '/') {
			yerror(w->y, n->line, "auth_excluded_paths: \"%.64s\" is not a path "
			    "(it must start with /)", wc->excluded[k]);
			r = -EINVAL;
		}
	}
	wc->excluded_line = n->line;
	return r;
}

/* A boolean as Go's YAML reads one (plain, not quoted); null: false. */
static int want_bool(struct wparser *w, const struct ynode *n, int *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
		"on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
		"off", "Off", "OFF" };

	*out = 0;
	if (n->type == YN_NULL)
		return 0;
	for (size_t k = 0; n->type == YN_SCALAR && !n->quoted && k < sizeof(yes) / sizeof(yes[0]);
	    k++) {
		if (strcmp(n->value, yes[k]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(n->value, no[k]) == 0)
			return 0;
	}
	yerror(w->y, n->line, "tls_server_config.%s: expected true or false", n->key);
	return -EINVAL;
}

/*
 * cipher_suites against the versions: the suites are TLS 1.2's (Go takes
 * TLS 1.3's names and ignores them). A list without a TLS 1.2 suite turns
 * TLS 1.2 off, as it does in Go; that leaving no version is an error.
 */
static int suites_check(struct wparser *w, struct webconf *wc)
{
	int tls12 = 0;

	if (wc->nsuites == 0)
		return 0;
	if (wc->min_version >= WEBCONF_TLS13)
		return webconf_warn(wc, "%s:%d: tls_server_config.cipher_suites has no effect "
		    "with min_version TLS13 (TLS 1.3 suites are not configurable)",
		    w->y->name, wc->suites_line);
	for (size_t i = 0; i < wc->nsuites; i++)
		if (wc->suites[i]->kx != NULL)
			tls12 = 1;
	if (tls12)
		return 0;
	if (wc->max_version <= WEBCONF_TLS12) {
		yerror(w->y, wc->suites_line, "tls_server_config.cipher_suites lists no TLS 1.2 "
		    "suite, and max_version is TLS12: no connection could be made");
		return -EINVAL;
	}
	return webconf_warn(wc, "%s:%d: tls_server_config.cipher_suites lists no TLS 1.2 "
	    "suite: TLS 1.2 clients are refused (as Go does), TLS 1.3 only",
	    w->y->name, wc->suites_line);
}

static int webconf_tls(struct wparser *w, const struct ynode *tls)
{
	struct webconf *wc = w->wc;
	int auth_line = 0, r = 0;

	if (want_map(w, tls, "tls_server_config") < 0)
		return -EINVAL;
	wc->tls_line = tls->line;
	if (tls->child == NULL)
		return 0;               /* empty: no TLS, as in exporter-toolkit */
	for (const struct ynode *n = tls->child; n != NULL && r == 0; n = n->next) {
		const char *k = n->key;

		if (strcmp(k, "cert_file") == 0)
			r = want_string(w, n, "tls_server_config", &wc->cert_file, &wc->cert_line);
		else if (strcmp(k, "key_file") == 0)
			r = want_string(w, n, "tls_server_config", &wc->key_file, &wc->key_line);
		else if (strcmp(k, "client_ca_file") == 0)
			r = want_string(w, n, "tls_server_config", &wc->client_ca_file,
			    &wc->client_ca_line);
		else if (strcmp(k, "client_auth_type") == 0)
			r = client_auth(w, n, &auth_line);
		else if (strcmp(k, "min_version") == 0)
			r = tls_version(w, n, &wc->min_version);
		else if (strcmp(k, "max_version") == 0)
			r = tls_version(w, n, &wc->max_version);
		else if (strcmp(k, "cert") == 0 || strcmp(k, "key") == 0 ||
		    strcmp(k, "client_ca") == 0) {
			yerror(w->y, n->line, "tls_server_config.%s: inline PEM is not supported "
			    "by memprobed: use %s_file", k, k);
			r = -EINVAL;
		} else if (strcmp(k, "prefer_server_cipher_suites") == 0) {
			r = want_bool(w, n, &wc->prefer_server);
		} else if (strcmp(k, "cipher_suites") == 0) {
			r = cipher_suites(w, n);
		} else if (strcmp(k, "curve_preferences") == 0) {
			r = curve_preferences(w, n);
		} else if (strcmp(k, "client_allowed_sans") == 0) {
			r = client_allowed_sans(w, n);
		} else {
			yerror(w->y, n->line, "tls_server_config: unknown key \"%.64s\" (expected "
			    "cert_file, key_file, client_ca_file, client_auth_type, min_version, "
			    "max_version, cipher_suites, curve_preferences, "
			    "prefer_server_cipher_suites or client_allowed_sans)", k);
			r = -EINVAL;
		}
	}
	if (r < 0)
		return r;
	/* Stricter than exporter-toolkit, which serves plain HTTP when both
	 * are missing: a TLS section that cannot work is an error. */
	if (wc->cert_file == NULL || wc->key_file == NULL) {
		yerror(w->y, tls->line, "tls_server_config: %s required",
		    wc->cert_file == NULL && wc->key_file == NULL ? "cert_file and key_file are" :
		    wc->cert_file == NULL ? "cert_file is" : "key_file is");
		return -EINVAL;
	}
	if (wc->min_version > wc->max_version) {
		yerror(w->y, tls->line, "tls_server_config: min_version TLS%d is above "
		    "max_version TLS%d", wc->min_version, wc->max_version);
		return -EINVAL;
	}
	if (wc->client_ca_file != NULL && wc->client_auth == WEBCONF_NO_CLIENT_CERT) {
		yerror(w->y, wc->client_ca_line, "tls_server_config.client_ca_file is set but "
		    "client_auth_type is NoClientCert: set client_auth_type "
		    "(RequireAndVerifyClientCert to require a certificate of that CA)");
		return -EINVAL;
	}
	if (wc->client_ca_file == NULL && (wc->client_auth == WEBCONF_VERIFY_CLIENT_CERT_IF_GIVEN ||
	    wc->client_auth == WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT)) {
		yerror(w->y, auth_line, "tls_server_config.client_auth_type %s needs "
		    "client_ca_file: the CA that signs the client certificates",
		    webconf_client_auth_name(wc->client_auth));
		return -EINVAL;
	}
	/* As exporter-toolkit: the SANs need a certificate to look at. */
	if (wc->sans != NULL && wc->client_auth != WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT &&
	    wc->client_auth != WEBCONF_REQUIRE_ANY_CLIENT_CERT) {
		yerror(w->y, wc->sans_line, "tls_server_config.client_allowed_sans needs "
		    "client_auth_type RequireAndVerifyClientCert (or RequireAnyClientCert), "
		    "not %s: a client could come without a certificate",
		    webconf_client_auth_name(wc->client_auth));
		return -EINVAL;
	}
	r = suites_check(w, wc);
	if (r < 0)
		return r;
	if (wc->client_auth != WEBCONF_NO_CLIENT_CERT &&
	    wc->client_auth != WEBCONF_REQUIRE_AND_VERIFY_CLIENT_CERT)
		r = webconf_warn(wc, "%s:%d: tls_server_config.client_auth_type %s does not "
		    "authenticate clients (any client gets in%s); RequireAndVerifyClientCert does",
		    w->y->name, auth_line, webconf_client_auth_name(wc->client_auth),
		    wc->client_auth == WEBCONF_REQUIRE_ANY_CLIENT_CERT ? " with any certificate" :
		    " without a certificate");
	wc->tls = 1;
	return r;
}

int webconf_is_bcrypt(const char *s)
{
	size_t n = strlen(s);

	if (n != 60 || s[0] != '$' || s[1] != '2' || (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') ||
	    s[3] != '$' || s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return 0;
	if ((s[4] - '0') * 10 + (s[5] - '0') < 4 || (s[4] - '0') * 10 + (s[5] - '0') > 31)
		return 0;
	for (size_t i = 7; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '/'))
			return 0;
	}
	return 1;
}

static int webconf_users(struct wparser *w, const struct ynode *users)
{
	struct webconf *wc = w->wc;
	size_t n = 0;

	if (want_map(w, users, "basic_auth_users") < 0)
		return -EINVAL;
	for (const struct ynode *u = users->child; u != NULL; u = u->next)
		n++;
	if (n == 0)
		return 0;
	wc->users = calloc(n, sizeof(*wc->users));
	if (wc->users == NULL) {
		yoom(w->y);
		return -ENOMEM;
	}
	for (const struct ynode *u = users->child; u != NULL; u = u->next) {
		struct webconf_user *wu = &wc->users[wc->nusers];

		/* The name never holds the password: it may be shown. */
		if (u->key[0] == '\0' || strchr(u->key, ':') != NULL) {
			yerror(w->y, u->line, "basic_auth_users: a user name must be non-empty "
			    "and without ':' (Basic authentication splits at the first ':')");
			return -EINVAL;
		}
		for (const unsigned char *c = (const unsigned char *)u->key; *c != '\0'; c++) {
			if (*c < 0x20 || *c == 0x7f) {
				yerror(w->y, u->line, "basic_auth_users: control character in "
				    "a user name");
				return -EINVAL;
			}
		}
		/* The hash is never echoed: it is a secret of sorts. */
		if (u->type != YN_SCALAR || !webconf_is_bcrypt(u->value)) {
			yerror(w->y, u->line, "basic_auth_users.%.64s: not a bcrypt hash "
			    "($2y$, $2b$ or $2a$, a cost from 04 to 31, then 53 characters; "
			    "`htpasswd -nBC 10 \"\" | tr -d ':\\n'` makes one)", u->key);
			return -EINVAL;
		}
		wu->name = strdup(u->key);
		wu->hash = strdup(u->value);
		wu->line = u->line;
		wc->nusers++;
		if (wu->name == NULL || wu->hash == NULL) {
			yoom(w->y);
			return -ENOMEM;
		}
	}
	return 0;
}

static int webconf_schema(struct wparser *w, const struct ynode *root)
{
	struct webconf *wc = w->wc;
	int r = 0;

	if (root == NULL)
		return 0;               /* an empty file: nothing asked */
	if (root->type != YN_MAP) {
		yerror(w->y, root->line, "expected a mapping with tls_server_config, "
		    "http_server_config or basic_auth_users; found %s", ytype_name(root->type));
		return -EINVAL;
	}
	for (const struct ynode *n = root->child; n != NULL && r == 0; n = n->next) {
		if (strcmp(n->key, "tls_server_config") == 0) {
			r = webconf_tls(w, n);
		} else if (strcmp(n->key, "basic_auth_users") == 0) {
			r = webconf_users(w, n);
		} else if (strcmp(n->key, "http_server_config") == 0) {
			r = want_map(w, n, "http_server_config");
			if (r == 0 && n->child != NULL)
				r = webconf_warn(wc, "%s:%d: http_server_config is ignored: memprobed "
				    "serves HTTP/1.1 and sets its own headers", w->y->name, n->line);
		} else if (strcmp(n->key, "auth_excluded_paths") == 0) {
			r = auth_excluded_paths(w, n);
		} else if (strcmp(n->key, "rate_limit") == 0) {
			yerror(w->y, n->line, "rate_limit is not supported by memprobed "
			    "(web.max-connections-per-ip bounds what one address can hold)");
			r = -EINVAL;
		} else {
			yerror(w->y, n->line, "unknown key \"%.64s\" (expected tls_server_config, "
			    "http_server_config, basic_auth_users or auth_excluded_paths)", n->key);
			r = -EINVAL;
		}
	}
	if (r == 0 && wc->nusers > 0 && !wc->tls)
		r = webconf_warn(wc, "%s: basic_auth_users without tls_server_config: passwords "
		    "cross the network in clear text", w->y->name);
	if (r == 0 && wc->nexcluded > 0 && wc->nusers == 0)
		r = webconf_warn(wc, "%s:%d: auth_excluded_paths without basic_auth_users: "
		    "nothing to exclude them from", w->y->name, wc->excluded_line);
	return r;
}

int webconf_parse(struct webconf *wc, const char *text, size_t len, const char *name,
    char *err, size_t errsize)
{
	struct yparser y = { .name = name, .msg = err, .msgsize = errsize };
	struct wparser w = { &y, wc };
	struct ynode *root = NULL;

	memset(wc, 0, sizeof(*wc));
	wc->min_version = WEBCONF_TLS12;
	wc->max_version = WEBCONF_TLS13;
	err[0] = '\0';
	wc->path = strdup(name);
	if (wc->path == NULL) {
		yoom(&y);
		goto out;
	}
	if (yaml_lines(&y, text, len) < 0)
		goto out;
	root = yaml_document(&y);
	/* The schema records its errors; a bare -ENOMEM is a warning's. */
	if (y.err == 0 && webconf_schema(&w, root) < 0)
		yoom(&y);
out:
	ynode_free(root);
	free(y.lines);
	if (y.err != 0) {
		webconf_free(wc);
		return y.err;
	}
	return 0;
}

/* ---- files ---- */

/* Reads at most max bytes of path into a new NUL-terminated *out. Returns
 * 0 or a negative errno, with why (cannot open: ...) in why. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen, mode_t *mode,
    char *why, size_t whysize)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whysize, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, whysize, "cannot stat: %s", strerror(-r));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(why, whysize, "not a regular file");
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		snprintf(why, whysize, "too large (more than %zu bytes)", max);
		goto fail;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		snprintf(why, whysize, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(why, whysize, "read error: %s", strerror(-r));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			snprintf(why, whysize, "too large (more than %zu bytes)", max);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	if (mode != NULL)
		*mode = st.st_mode;
	return 0;
fail:
	if (buf != NULL) {
		memset(buf, 0, len);
		free(buf);
	}
	close(fd);
	return r;
}

/* Makes *file absolute against the directory of `base` if it is relative. */
static int resolve_path(char **file, const char *base)
{
	const char *slash = strrchr(base, '/');
	char *joined;

	if ((*file)[0] == '/' || slash == NULL)
		return 0;
	if (asprintf(&joined, "%.*s/%s", (int)(slash - base), base, *file) < 0)
		return -ENOMEM;
	free(*file);
	*file = joined;
	return 0;
}

/* Reads a PEM file named by a key on `line`; err as webconf_load(). */
static int read_pem(struct webconf *wc, const char *key, char **file, int line, char **pem,
    int is_key, char *err, size_t errsize)
{
	char why[256];
	size_t len;
	mode_t mode = 0;
	int r;

	if (resolve_path(file, wc->path) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	r = read_file(*file, WEBCONF_MAX_FILE, pem, &len, &mode, why, sizeof(why));
	if (r == 0 && (strlen(*pem) != len || strstr(*pem, "-----BEGIN ") == NULL)) {
		snprintf(why, sizeof(why), "not a PEM file (no \"-----BEGIN \" line)");
		r = -EINVAL;
	}
	if (r < 0) {
		snprintf(err, errsize, "%s:%d: tls_server_config.%s: %s: %s", wc->path, line, key,
		    *file, why);
		return r;
	}
	if (is_key && (mode & S_IROTH) && webconf_warn(wc, "%s:%d: tls_server_config.key_file "
	    "%s is readable by every user: chmod o-r it", wc->path, line, *file) < 0) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	return 0;
}

int webconf_load(struct webconf *wc, const char *path, char *err, size_t errsize)
{
	char why[256], *text = NULL;
	size_t len = 0;
	int r;

	memset(wc, 0, sizeof(*wc));
	r = read_file(path, WEBCONF_MAX_FILE, &text, &len, NULL, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errsize, "%s: %s", path, why);
		return r;
	}
	r = webconf_parse(wc, text, len, path, err, errsize);
	free(text);
	if (r < 0)
		return r;
	if (wc->tls) {
		r = read_pem(wc, "cert_file", &wc->cert_file, wc->cert_line, &wc->cert_pem, 0,
		    err, errsize);
		if (r == 0)
			r = read_pem(wc, "key_file", &wc->key_file, wc->key_line, &wc->key_pem, 1,
			    err, errsize);
		if (r == 0 && wc->client_ca_file != NULL)
			r = read_pem(wc, "client_ca_file", &wc->client_ca_file, wc->client_ca_line,
			    &wc->client_ca_pem, 0, err, errsize);
		if (r < 0) {
			webconf_free(wc);
			return r;
		}
	}
	return 0;
}

static void free_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void webconf_free(struct webconf *wc)
{
	free(wc->path);
	free(wc->cert_file);
	free(wc->key_file);
	free(wc->client_ca_file);
	free(wc->cert_pem);
	free_secret(&wc->key_pem);
	free(wc->client_ca_pem);
	for (size_t i = 0; i < wc->nusers; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	for (size_t i = 0; i < wc->nsans; i++)
		free(wc->sans[i]);
	free(wc->sans);
	for (size_t i = 0; i < wc->nexcluded; i++)
		free(wc->excluded[i]);
	free(wc->excluded);
	for (size_t i = 0; i < wc->nwarnings; i++)
		free(wc->warnings[i]);
	memset(wc, 0, sizeof(*wc));
}
