/* ytree.h: a YAML document, read with libyaml, as a small tree of mappings,
 * sequences and scalars with the line of each entry (for the web config).
 *
 * Full YAML 1.1 as libyaml reads it, flow and block forms alike, except what
 * a configuration file has no use for and a hostile one could abuse:
 * anchors and aliases, tags, directives, several documents, keys that are
 * not scalars, duplicate keys. Bytes are checked first: NUL, control
 * characters, a lone CR and invalid UTF-8 are refused with their line.
 * Errors are "NAME:LINE: message", the first one only. */
#ifndef MEMPROBE_YTREE_H
#define MEMPROBE_YTREE_H

#include <stddef.h>
#include <yaml.h>

enum ynode_type { YN_NULL, YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_type type;
	int line;                       /* of its key, or of the item */
	char *key;                      /* in a mapping; else NULL */
	char *value;                    /* YN_SCALAR, NUL-free */
	int quoted;                     /* a scalar not written plain */
	struct ynode *child, *last;     /* YN_MAP, YN_SEQ: entries in order */
	struct ynode *next;
};

/* One parse: set name, msg and msgsize; the rest is ytree_parse()'s. */
struct ytree {
	const char *name;
	const char *text;
	size_t len;
	yaml_parser_t lib;
	size_t nodes;
	int err;                        /* 0, -EINVAL or -ENOMEM */
	char *msg;
	size_t msgsize;
};

/* The tree of text (len bytes, NUL-free), or NULL for an empty document or
 * on error: p->err is then -EINVAL or -ENOMEM, with the message in p->msg. */
struct ynode *ytree_parse(struct ytree *p, const char *text, size_t len);
void ytree_free(struct ynode *n);

/* Records the first error, as "NAME:LINE: message" (LINE 0: none). */
void ytree_error(struct ytree *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ytree_oom(struct ytree *p);

/* "a mapping", "a sequence", "a value" or "nothing", for messages. */
const char *ytree_type_name(enum ynode_type t);

#endif
