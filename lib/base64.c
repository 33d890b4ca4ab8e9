/* base64.c - RFC 4648 base64 (see base64.h). */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *data, size_t len, struct str *out)
{
	const unsigned char *p = data;
	str_ready(out, (len + 2) / 3 * 4);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		str_catc(out, alphabet[v >> 18 & 63]);
		str_catc(out, alphabet[v >> 12 & 63]);
		str_catc(out, i + 1 < len ? alphabet[v >> 6 & 63] : '=');
		str_catc(out, i + 2 < len ? alphabet[v & 63] : '=');
	}
	str_ready(out, 0);
}

static int value(unsigned char c)
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

int base64_decode(const char *s, size_t len, struct str *out)
{
	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int pad = 0;
		unsigned v = 0;
		for (size_t k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];
			int d;
			if (c == '=' && i + 4 == len && k >= 2) {
				pad++;
				d = 0;
			} else if (pad || (d = value(c)) < 0) {
				return -1;
			}
			v = v << 6 | (unsigned)d;
		}
		str_catc(out, (char)(v >> 16));
		if (pad < 2)
			str_catc(out, (char)(v >> 8 & 255));
		if (pad < 1)
			str_catc(out, (char)(v & 255));
	}
	str_ready(out, 0);
	return 0;
}
