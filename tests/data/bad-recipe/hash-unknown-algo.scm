(derivation (name "fixed") (system "x86_64-linux") (builder "/bin/sh")
  (hash "sha3" "4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e"))
