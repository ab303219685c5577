/* Personal identification numbers (PIN, ИНН) of Kyrgyz residents.
 *
 * The one place that decides whether a string is a well-formed PIN, so every
 * adapter accepts and refuses the same things. The layout is the widely used
 * one (domain.md), not an official text: 14 digits; digit 1 the sex (1 female,
 * 2 male); digits 2-9 the birth date DDMMYYYY; digits 10-14 a serial number.
 * No check digit is published, so none is checked: a guessed checksum would
 * refuse real people. */
#ifndef AILGATE_ADAPTERS_COMMON_PIN_H
#define AILGATE_ADAPTERS_COMMON_PIN_H

#include <stddef.h>
#include <time.h>

#define PIN_LEN 14

/* 0 if pin is well formed, else -1 with a sentence a clerk can act on in
 * why[len] ("PIN must be 14 digits; got 13"). pin may be NULL (missing);
 * it is read at most up to 64 bytes, so any input is safe. why may be NULL
 * when the reason is not wanted. The birth date must be a real date,
 * year >= 1900 and not after today (local time). */
int pin_check(const char *pin, char *why, size_t len) __attribute__((warn_unused_result));

/* The same, with "today" taken from now (for tests and for batch jobs that
 * check records as of a given day). */
int pin_check_at(const char *pin, time_t now, char *why, size_t len)
	__attribute__((warn_unused_result));

#endif
