/* utf8.h: the one UTF-8 validator, for memprobed's names and memprobectl's output. */
#ifndef MEMPROBE_UTF8_H
#define MEMPROBE_UTF8_H

#include <stddef.h>

/*
 * Length (1 to 4) of the well-formed UTF-8 character that starts at s, of
 * which n bytes may be read (n >= 1); or 0 when s does not start one: a
 * continuation or stray byte (0x80..0xC1, 0xF5..0xFF), an overlong form,
 * a UTF-16 surrogate (U+D800..U+DFFF), a code point past U+10FFFF, or a
 * sequence cut short by n or by a byte that is not a continuation byte.
 * Bytes are read in order and never past the first bad one, so a NUL-
 * terminated string may be passed with n = 4 however short it is. Pure.
 */
size_t utf8_char_len(const char *s, size_t n);

#endif
