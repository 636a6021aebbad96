"""snnc.runtime: datasets, training, evaluation and measurement. Depends on the compiler, never the reverse."""
