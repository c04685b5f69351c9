(derivation (name "fixed") (system "x86_64-linux") (builder "/bin/sh")
  (hash "sha256-Tx7tp1QOMWnsXcXF44g9MEauanJEkfysp2zbbMQLs34=" #:recursive "yes"))
