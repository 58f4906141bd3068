/* conneg.c: HTTP content negotiation for /metrics: Accept and Accept-Encoding with q-values. */
#include "conneg.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

/* A slice of the header. */
struct tok {
	const char *p;
	size_t n;
};

static int is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static int tok_is(struct tok t, const char *lit)
{
	return t.n == strlen(lit) && strncasecmp(t.p, lit, t.n) == 0;
}

static const char *read_token(const char *s, struct tok *t)
{
	t->p = s;
	while (is_tchar(*s))
		s++;
	t->n = (size_t)(s - t->p);
	return s;
}

/* A qvalue: "0", "0.d{0,3}", "1", "1.0{0,3}", as thousandths; -1 if bad. */
static int parse_q(struct tok v)
{
	size_t i;
	int q, digits = 0;

	if (v.n == 0 || (v.p[0] != '0' && v.p[0] != '1'))
		return -1;
	q = (v.p[0] - '0') * 1000;
	if (v.n == 1)
		return q;
	if (v.p[1] != '.' || v.n > 5)
		return -1;
	for (i = 2; i < v.n; i++) {
		int d;

		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		d = v.p[i] - '0';
		if (q == 1000 && d != 0)
			return -1;
		q += d * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
		digits++;
	}
	return q;
}

/*
 * Parses the parameters after a media range or a coding, from s (at ';'
 * or the end of the element), up to the ',' that ends the element or the
 * end of the string. Sets *q (thousandths; 1000 when absent) and *version
 * (n = 0 when absent; the value without quotes). Returns the position of
 * the ',' or the end, and *bad when the element is malformed.
 */
static const char *read_params(const char *s, int *q, struct tok *version, int *bad)
{
	*q = 1000;
	version->p = NULL;
	version->n = 0;
	*bad = 0;
	for (;;) {
		struct tok name, val;

		s = skip_ows(s);
		if (*s == '\0' || *s == ',')
			return s;
		if (*s != ';')
			goto bad;
		s = skip_ows(s + 1);
		if (*s == ';' || *s == ',' || *s == '\0')
			continue;       /* empty parameter: tolerated */
		s = read_token(s, &name);
		if (name.n == 0)
			goto bad;
		s = skip_ows(s);
		if (*s != '=')
			goto bad;
		s = skip_ows(s + 1);
		if (*s == '"') {
			val.p = ++s;
			while (*s != '"' && *s != '\0') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				s++;
			}
			if (*s != '"')
				goto bad;
			val.n = (size_t)(s - val.p);
			s++;
		} else {
			s = read_token(s, &val);
		}
		if (tok_is(name, "q")) {
			*q = parse_q(val);
			if (*q < 0)
				goto bad;
		} else if (tok_is(name, "version")) {
			*version = val;
		}
	}
bad:
	*bad = 1;
	/* Skip to the end of the element, minding quoted strings. */
	while (*s != '\0' && *s != ',') {
		if (*s == '"') {
			s++;
			while (*s != '"' && *s != '\0') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				s++;
			}
			if (*s == '\0')
				break;
		}
		s++;
	}
	return s;
}

enum conneg_format conneg_format(const char *accept)
{
	enum conneg_format best = CONNEG_TEXT_004;
	int best_q = -1, best_exact = 0;
	const char *s = accept;

	if (s == NULL)
		return CONNEG_TEXT_004;
	while (*s != '\0') {
		struct tok type, sub, version;
		int q, bad, exact = 1, match = 0;
		enum conneg_format f = CONNEG_TEXT_004;

		s = skip_ows(s);
		if (*s == ',') {
			s++;
			continue;
		}
		s = read_token(s, &type);
		if (type.n == 0 || *s != '/') {
			bad = 1;
			s = read_params(s, &q, &version, &bad);
			bad = 1;
		} else {
			s = read_token(s + 1, &sub);
			s = read_params(s, &q, &version, &bad);
			if (sub.n == 0)
				bad = 1;
		}
		if (*s == ',')
			s++;
		if (bad || q <= 0)
			continue;
		if (tok_is(type, "application") && tok_is(sub, "openmetrics-text")) {
			if (version.n == 0 || (version.n == 5 && memcmp(version.p, "1.0.0", 5) == 0)) {
				f = CONNEG_OPENMETRICS_100;
				match = 1;
			} else if (version.n == 5 && memcmp(version.p, "0.0.1", 5) == 0) {
				f = CONNEG_OPENMETRICS_001;
				match = 1;
			}
		} else if (tok_is(type, "text") && tok_is(sub, "plain")) {
			match = version.n == 0 || (version.n == 5 && memcmp(version.p, "0.0.4", 5) == 0);
		} else if ((tok_is(type, "*") || tok_is(type, "text")) && tok_is(sub, "*")) {
			match = 1;
			exact = 0;
		}
		if (!match)
			continue;
		if (q > best_q || (q == best_q && exact && !best_exact)) {
			best = f;
			best_q = q;
			best_exact = exact;
		}
	}
	return best;
}

int conneg_gzip(const char *ae)
{
	int q_gzip = -1, q_star = -1, q_identity = -1;
	const char *s = ae;

	if (s == NULL)
		return 0;
	while (*s != '\0') {
		struct tok coding, version;
		int q, bad;

		s = skip_ows(s);
		if (*s == ',') {
			s++;
			continue;
		}
		s = read_token(s, &coding);
		s = read_params(s, &q, &version, &bad);
		if (*s == ',')
			s++;
		if (bad || coding.n == 0)
			continue;
		if (tok_is(coding, "gzip") || tok_is(coding, "x-gzip")) {
			if (q > q_gzip)
				q_gzip = q;
		} else if (tok_is(coding, "*")) {
			q_star = q;
		} else if (tok_is(coding, "identity")) {
			q_identity = q;
		}
	}
	if (q_gzip < 0)
		q_gzip = q_star;
	return q_gzip > 0 && q_gzip >= q_identity;
}
