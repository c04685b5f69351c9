(derivation (name "hello.drv") (system "x86_64-linux") (builder "/bin/sh"))
