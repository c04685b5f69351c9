(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
            (outputs "out" "a/b"))
