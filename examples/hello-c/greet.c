#include <stdio.h>

#include "greet.h"

void greet(const char *name)
{
	printf("Hello, %s! (%d word%s)\n", name, count_words(name),
	       count_words(name) == 1 ? "" : "s");
}
