(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
  (env ("RATIO" 1.5)))
