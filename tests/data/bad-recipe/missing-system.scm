(derivation (name "hello") (builder "/bin/sh"))
