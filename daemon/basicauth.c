/* basicauth.c: HTTP Basic authentication: the Authorization header (GnuTLS's base64), bcrypt (libxcrypt) and a cache of recent successes. */
#include "basicauth.h"

#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define BCRYPT_LEN 60

struct basicauth_user {
	char *name;
	char hash[BCRYPT_LEN + 1];
};

/* A verification that succeeded: a salted SHA-256 of user, password and
 * hash, never the password itself. */
struct basicauth_seen {
	unsigned char key[32];
	double expires;                 /* 0: free */
};

struct basicauth {
	struct basicauth_user *users;
	size_t nusers;
	char dummy[BCRYPT_LEN + 4];     /* for unknown users */
	unsigned char salt[16];         /* of the cache keys */
	pthread_mutex_t lock;           /* guards seen, next */
	struct basicauth_seen seen[BASICAUTH_CACHE_SIZE];
	unsigned next;
};

/* ---- the users ---- */

/* Copies user u into b, once libxcrypt has taken its hash; *maxcost
 * rises to its cost. */
static int add_user(struct basicauth *b, const struct webconf *wc, const struct webconf_user *u,
    int *maxcost, char *err, size_t errsize)
{
	int cost;

	/* The parser checked the form; libxcrypt has the last word. */
	if (!webconf_is_bcrypt(u->hash) || crypt_checksalt(u->hash) != CRYPT_SALT_OK) {
		snprintf(err, errsize, "%s:%d: basic_auth_users.%.64s: libxcrypt does not "
		    "take this hash", wc->path, u->line, u->name);
		return -EINVAL;
	}
	b->users[b->nusers].name = strdup(u->name);
	if (b->users[b->nusers].name == NULL) {
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	memcpy(b->users[b->nusers].hash, u->hash, BCRYPT_LEN + 1);
	b->nusers++;
	cost = (u->hash[4] - '0') * 10 + (u->hash[5] - '0');
	if (cost > *maxcost)
		*maxcost = cost;
	return 0;
}

int basicauth_new(struct basicauth **out, const struct webconf *wc, char *err, size_t errsize)
{
	struct basicauth *b = calloc(1, sizeof(*b));
	int maxcost = 4, r = 0;

	if (b == NULL || (wc->nusers > 0 &&
	    (b->users = calloc(wc->nusers, sizeof(*b->users))) == NULL)) {
		free(b);
		snprintf(err, errsize, "%s: out of memory", wc->path);
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	for (size_t i = 0; i < wc->nusers && r == 0; i++)
		r = add_user(b, wc, &wc->users[i], &maxcost, err, errsize);
	if (r < 0)
		goto fail;
	/* An unknown user costs what the dearest known one does; any salt
	 * and checksum do, the result is never a match. */
	snprintf(b->dummy, sizeof(b->dummy), "$2b$%02d$%s", maxcost,
	    "N9qo8uLOickgx2ZMRZoMyejCki5x.9vK3TW5Sf9xmjs1nHnIHO0xK");
	if (getrandom(b->salt, sizeof(b->salt), 0) != (ssize_t)sizeof(b->salt)) {
		r = -errno;
		snprintf(err, errsize, "getrandom: %s", strerror(-r));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	basicauth_free(b);
	return r;
}

void basicauth_free(struct basicauth *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nusers; i++)
		free(b->users[i].name);
	free(b->users);
	pthread_mutex_destroy(&b->lock);
	explicit_bzero(b, sizeof(*b));
	free(b);
}

size_t basicauth_users(const struct basicauth *b)
{
	return b != NULL ? b->nusers : 0;
}

/* ---- the header ---- */

/* Splits "user:password" (len bytes, no NUL inside) into user and pass. */
static int split_credentials(const unsigned char *buf, size_t len, char *user, size_t usize,
    char *pass, size_t psize)
{
	const unsigned char *colon;
	size_t ulen;

	/* crypt() would stop at a NUL: "pw\0anything" must not pass for "pw". */
	if (memchr(buf, '\0', len) != NULL)
		return -EINVAL;
	colon = memchr(buf, ':', len);
	if (colon == NULL)
		return -EINVAL;
	ulen = (size_t)(colon - buf);
	if (ulen + 1 > usize || len - ulen - 1 + 1 > psize)
		return -EINVAL;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, len - ulen - 1);
	pass[len - ulen - 1] = '\0';
	return 0;
}

int basicauth_parse(const char *h, char *user, size_t usize, char *pass, size_t psize)
{
	gnutls_datum_t b64, raw = { NULL, 0 };
	size_t n = 0;
	int r;

	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t'))
		return -EINVAL;
	h += 5;
	while (*h == ' ' || *h == '\t')
		h++;
	/* The token is one word: GnuTLS's decoder would skip blanks in it. */
	while (h[n] != '\0' && h[n] != ' ' && h[n] != '\t')
		n++;
	if (n == 0 || n > (BASICAUTH_MAX_USER + BASICAUTH_MAX_PASSWORD + 2) / 3 * 4 + 4 ||
	    h[n + strspn(h + n, " \t")] != '\0')
		return -EINVAL;
	b64.data = (unsigned char *)(uintptr_t)h;
	b64.size = (unsigned)n;
	if (gnutls_base64_decode2(&b64, &raw) < 0)
		return -EINVAL;
	r = split_credentials(raw.data, raw.size, user, usize, pass, psize);
	explicit_bzero(raw.data, raw.size);
	gnutls_free(raw.data);
	return r;
}

/* ---- passwords ---- */

/* Equal strings, in a time that depends on their lengths only. */
static int ct_streq(const char *x, const char *y)
{
	size_t lx = strlen(x), ly = strlen(y);
	volatile unsigned char d = lx != ly;

	for (size_t i = 0; i < lx; i++)
		d |= (unsigned char)x[i] ^ (unsigned char)(i < ly ? y[i] : 0);
	return d == 0;
}

static void cache_key(const struct basicauth *b, const char *user, const char *pass,
    const char *hash, unsigned char key[32])
{
	gnutls_hash_hd_t hd;

	if (gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0) {
		/* No cache then: a key nothing else has. */
		memset(key, 0, 32);
		return;
	}
	gnutls_hash(hd, b->salt, sizeof(b->salt));
	gnutls_hash(hd, user, strlen(user) + 1);
	gnutls_hash(hd, pass, strlen(pass) + 1);
	gnutls_hash(hd, hash, strlen(hash));
	gnutls_hash_deinit(hd, key);
}

static int cache_has(struct basicauth *b, const unsigned char key[32], double now)
{
	static const unsigned char zero[32];
	int hit = 0;

	if (memcmp(key, zero, 32) == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < BASICAUTH_CACHE_SIZE; i++)
		if (b->seen[i].expires > now && memcmp(b->seen[i].key, key, 32) == 0)
			hit = 1;
	pthread_mutex_unlock(&b->lock);
	return hit;
}

static void cache_put(struct basicauth *b, const unsigned char key[32], double now)
{
	unsigned slot = BASICAUTH_CACHE_SIZE;

	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < BASICAUTH_CACHE_SIZE && slot == BASICAUTH_CACHE_SIZE; i++)
		if (b->seen[i].expires <= now)
			slot = i;
	/* Full of live entries: replace in turn. Only right passwords get
	 * here, so strangers cannot push a scraper's entry out. */
	if (slot == BASICAUTH_CACHE_SIZE)
		slot = b->next++ % BASICAUTH_CACHE_SIZE;
	memcpy(b->seen[slot].key, key, 32);
	b->seen[slot].expires = now + BASICAUTH_CACHE_SECONDS;
	pthread_mutex_unlock(&b->lock);
}

/* Whether bcrypt of pass is hash, compared in constant time. */
static int bcrypt_matches(const char *pass, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	volatile unsigned char d = 0;
	const char *out;

	if (cd == NULL)
		return 0;
	out = crypt_rn(pass, hash, cd, (int)sizeof(*cd));
	if (out == NULL || strlen(out) != BCRYPT_LEN)
		d = 1;
	else
		for (size_t i = 0; i < BCRYPT_LEN; i++)
			d |= (unsigned char)out[i] ^ (unsigned char)hash[i];
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return d == 0;
}

int basicauth_password_ok(struct basicauth *b, const char *user, const char *pass, double now)
{
	const char *hash = b->dummy;
	unsigned char key[32];
	int known = 0, ok;

	/* Every user is compared, with no early exit. */
	for (size_t i = 0; i < b->nusers; i++) {
		if (ct_streq(b->users[i].name, user)) {
			hash = b->users[i].hash;
			known = 1;
		}
	}
	/* Looked up for unknown users too (the dummy hash in the key never
	 * matches), so that both take the same path. */
	cache_key(b, user, pass, hash, key);
	if (cache_has(b, key, now) && known)
		return 1;
	ok = bcrypt_matches(pass, hash) && known;
	if (ok)
		cache_put(b, key, now);
	explicit_bzero(key, sizeof(key));
	return ok;
}
