(derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
  (env ("A" "1")
       ("B" "2")
       ("A" "3")))
