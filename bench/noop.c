/* SPDX-License-Identifier: MIT */
/* The hook's floor: a statically linked program that does nothing. Its fork + exec + exit is
 * what any hook costs before its own work (issue 16: qos-hook is judged against this plus the
 * raw writes). */
int main(void)
{
	return 0;
}
