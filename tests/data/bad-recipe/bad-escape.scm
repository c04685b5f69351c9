(derivation (name "hel\lo") (system "x86_64-linux") (builder "/bin/sh"))
