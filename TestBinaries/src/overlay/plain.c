/* A program with no payload reader: the UPX fixture (a synthetic PackHeader appended) and the
 * unknown-overlay fixture only need a program that runs. */
#include <stdio.h>
int main(void) { puts("plain program"); return 0; }
