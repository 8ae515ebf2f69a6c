package dev.matgto.client.junit;

/**
 * The cassette a test uses: its name, and the {@link MatgtoCassette} in effect (the method's, else
 * the nearest class's) that says how.
 */
record TestCassette(String name, MatgtoCassette annotation) {}
