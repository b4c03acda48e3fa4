/* SPDX-License-Identifier: MIT */
/* The libFuzzer entry point every target defines. Built two ways: with clang -fsanitize=fuzzer for
 * make fuzz, and with replay-main.c (gcc, ASan+UBSan) so make check replays the corpora. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional; replay-main.c calls it when the target defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
