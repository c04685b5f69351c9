(derivation (name "fixed") (system "x86_64-linux") (builder "/bin/sh")
  (hash "sha256" "0123456789abcdef"))
