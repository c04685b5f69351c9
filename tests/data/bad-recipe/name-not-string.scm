(derivation (name 42) (system "x86_64-linux") (builder "/bin/sh"))
