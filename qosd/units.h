/* SPDX-License-Identifier: MIT */
/* Units of the policy language: parse strictly (no silent truncation, no overflow, no sign,
 * nothing trailing) and print canonically. All return 0 or -EINVAL / -ERANGE. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Plain unsigned decimal, no sign, no leading '+', fits in 64 bits. */
int parse_u64(const char *s, uint64_t *ret);
/* Size: N, NK NM NG NT, NKiB NMiB NGiB NTiB (powers of 1024, case-sensitive suffixes K M G T, also
 * KB? no: only the listed forms), plain bytes; no fractions. */
int parse_size(const char *s, uint64_t *ret);
/* Duration in microseconds: Nus, Nms, Ns. A unit is required. */
int parse_duration_us(const char *s, uint64_t *ret);
/* Net rate in bits/s: Nbit, Nkbit, Nmbit, Ngbit (powers of 1000, as tc). */
int parse_rate_bits(const char *s, uint64_t *ret);
/* Percent of one CPU: "150%" -> 150. 1..100000 percent (fractions "12.5%" -> parse into per-mille
 * ret = percent x 1000, so "12.5%" -> 12500). */
int parse_percent_milli(const char *s, uint64_t *ret);
#define CPULIST_MAX 4096
/* CPU / memory-node list "0-3,6": ascending ids < CPULIST_MAX, normalized into ret ("0-3,6"). */
int parse_cpulist(const char *s, char **ret);
/* The same list as a set of ids (bits[i / 64] bit i % 64), by the same rule. */
int cpulist_bits(const char *s, uint64_t bits[CPULIST_MAX / 64]);
/* One element "N" or "N-M" (< 4096) of a list at *p; advances *p past it. -EINVAL otherwise. */
int cpulist_element(const char **p, unsigned *ret_lo, unsigned *ret_hi);

/* Canonical text: sizes "512M" when exact, else bytes; rates "100mbit"; durations "100ms". */
int format_size(uint64_t bytes, char *buf, size_t len);
int format_rate_bits(uint64_t bps, char *buf, size_t len);
int format_duration_us(uint64_t us, char *buf, size_t len);
/* "150%", "12.5%": the inverse of parse_percent_milli(). */
int format_percent_milli(uint64_t milli, char *buf, size_t len);
/* For messages, not for parsing back: "64M" when exact, else one decimal ("80.2M"); plain bytes
 * below 1K. */
int format_size_approx(uint64_t bytes, char *buf, size_t len);
/* Big enough for any formatted value above. */
#define UNIT_FMT_MAX 32
