/* greet.h — the interface between the parts of hello-c. */
#ifndef GREET_H
#define GREET_H

/* Writes a greeting for NAME to standard output. */
void greet(const char *name);
/* The number of words in S (runs of characters other than spaces). */
int count_words(const char *s);

#endif
