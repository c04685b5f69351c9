(derivation
  (name "hello")
  (system "x86_64-linux")
  (name "again")
  (builder "/bin/sh"))
