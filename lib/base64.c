/* base64.c - strict RFC 4648 base64 (see base64.h). */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *b, size_t n, struct str *out)
{
	const unsigned char *p = b;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		str_catc(out, alphabet[(v >> 18) & 63]);
		str_catc(out, alphabet[(v >> 12) & 63]);
		str_catc(out, i + 1 < n ? alphabet[(v >> 6) & 63] : '=');
		str_catc(out, i + 2 < n ? alphabet[v & 63] : '=');
	}
	str_c(out);
}

static int value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *s, size_t n, struct str *out)
{
	str_copyb(out, "", 0); /* s[0] = NUL even when out held something */
	if (n % 4)
		return 0;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int a = value(s[i]), b = value(s[i + 1]);
		int pad2 = last && s[i + 2] == '=' && s[i + 3] == '=';
		int pad1 = last && !pad2 && s[i + 3] == '=';
		int c = pad2 ? 0 : value(s[i + 2]);
		int d = (pad1 || pad2) ? 0 : value(s[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			return 0;
		unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
		/* canonical: the bits a padded encoding leaves unused must be zero */
		if ((pad2 && (v & 0xffff)) || (pad1 && (v & 0xff)))
			return 0;
		str_catc(out, (char)(v >> 16));
		if (!pad2)
			str_catc(out, (char)(v >> 8 & 0xff));
		if (!pad1 && !pad2)
			str_catc(out, (char)(v & 0xff));
	}
	return 1;
}
