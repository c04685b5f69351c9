;; Fixed-output derivations: the hash of the result is declared in advance,
;; so the output path depends only on that hash and the name — not on the
;; builder — and the build is checked against it (this is how downloads
;; are written).  (hash ALGORITHM HASH) for the bytes of a file;
;; #:recursive #t for a tree, hashed as its NAR (`yonder hash DIR`).  The
;; hash may be written in base16, nix32 or base64, or as SRI
;; ("sha256-…", then without the algorithm).
;;
;; `yonder hash --flat --base16 FILE` and `yonder hash --sri DIR` print
;; such hashes.
(define flat
  (derivation
    (name "fixed-greeting")
    (system %current-system)
    (builder "/bin/sh")
    (args "-c" "printf 'Hello from a fixed-output derivation.\\n' > $out")
    (hash "sha256" "d916c0c7659db48649efb3573528ee513fb83c1371207eefa6bcd364a3a04b5c")))

(define tree
  (derivation
    (name "fixed-tree")
    (system %current-system)
    (builder "/bin/sh")
    (args "-c" "/bin/mkdir $out && printf 'one\\n' > $out/a && printf 'two\\n' > $out/b")
    (hash "sha256-mAGANu0akE7yeALFng2QKhPjogkrwmxGh2nVF2asdaY=" #:recursive #t)))

(list flat tree)
