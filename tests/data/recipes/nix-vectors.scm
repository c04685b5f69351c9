;; The derivations of tests/vectors/drv/drvs.nix written as a recipe: each
;; gives byte for byte the .drv that Nix 2.8 wrote from the Nix expression
;; (tests/unit/test_recipe.c and tests/t/t0301-recipes.sh check it, for
;; /nix/store and /gnu/store).  The value lists them in the order of the
;; ATTRS of make-drv-vectors.sh.

(define hello
  (derivation
    (name "hello")
    (system "x86_64-linux")
    (builder "/bin/sh")
    (args "-c" "echo hello > $out")))

;; Two outputs: the first one listed is the default.
(define two-outputs
  (derivation
    (name "two-outputs")
    (system "x86_64-linux")
    (builder "/bin/sh")
    (outputs "out" "dev")
    (args "-c" "echo out > $out; echo dev > $dev")))

(define only-bin
  (derivation
    (name "only-bin")
    (system "x86_64-linux")
    (builder "/bin/sh")
    (outputs "bin")
    (args "-c" "echo bin > $bin")))

;; Fixed outputs: the same content hash written four ways (the output path
;; is the same, the .drv files differ by their outputHash variable).
(define flat-args '("-c" "printf 'fixed flat\\n' > $out"))
(define rec-args '("-c" "/bin/mkdir $out && echo hi > $out/file && echo there > $out/other"))

(define fixed-flat-base16
  (derivation
    (name "fixed-flat") (system "x86_64-linux") (builder "/bin/sh") (args flat-args)
    (hash "sha256" "4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e")))
(define fixed-flat-nix32
  (derivation
    (name "fixed-flat") (system "x86_64-linux") (builder "/bin/sh") (args flat-args)
    (hash "sha256" "0zmk1g26rnvclyngr4a4f9mawiih7n4f7if5bpn6jc8fajkys7jg")))
(define fixed-flat-sri
  (derivation
    (name "fixed-flat") (system "x86_64-linux") (builder "/bin/sh") (args flat-args)
    (hash "sha256-Tx7tp1QOMWnsXcXF44g9MEauanJEkfysp2zbbMQLs34=")))
(define fixed-flat-prefixed
  (derivation
    (name "fixed-flat") (system "x86_64-linux") (builder "/bin/sh") (args flat-args)
    (hash "sha256:0zmk1g26rnvclyngr4a4f9mawiih7n4f7if5bpn6jc8fajkys7jg")))

(define fixed-recursive-base16
  (derivation
    (name "fixed-recursive") (system "x86_64-linux") (builder "/bin/sh") (args rec-args)
    (hash "sha256" "2ef164636ec17d967d48301cc432db72759010092b1c8c7d0bd878182de66ce1"
          #:recursive #t)))
(define fixed-recursive-nix32
  (derivation
    (name "fixed-recursive") (system "x86_64-linux") (builder "/bin/sh") (args rec-args)
    (hash "sha256" "1qbcwqnihy6q1dyqq71b14890xbjvcrc871h91yrczf1drin9w9f" #:recursive #t)))
(define fixed-recursive-sri
  (derivation
    (name "fixed-recursive") (system "x86_64-linux") (builder "/bin/sh") (args rec-args)
    (hash "sha256-LvFkY27BfZZ9SDAcxDLbcnWQEAkrHIx9C9h4GC3mbOE=" #:recursive #t)))

(define fixed-flat-sha1
  (derivation
    (name "fixed-flat") (system "x86_64-linux") (builder "/bin/sh") (args flat-args)
    (hash "sha1" "442a03592058a1e04790d79482aa827840862224")))
(define fixed-recursive-sha512
  (derivation
    (name "fixed-recursive") (system "x86_64-linux") (builder "/bin/sh") (args rec-args)
    (hash "sha512"
          "34kg26yswqgvm8v9fcm669g81nid5356ihawvnbxyymlyiwr807wxm4pp1338n29wwis6m3x837blzhg9dyq0s7sri1ahwz1jazxc4j"
          #:recursive #t)))

;; Inputs come from the strings: a derivation stands for its default
;; output, (output d "dev") for another one.
(define dependent
  (derivation
    (name "dependent") (system "x86_64-linux") (builder "/bin/sh")
    (args "-c" (string-append "echo " hello " " (output two-outputs "dev") " "
                              fixed-flat-base16 " > $out"))))

(define dependent2
  (derivation
    (name "dependent2") (system "x86_64-linux") (builder "/bin/sh")
    (args "-c" (string-append "echo " dependent " " two-outputs " "
                              (output two-outputs "dev") " " fixed-recursive-sri " > $out"))))

;; Input sources from plain-file (builtins.toFile), one referring to the
;; other.
(define tofile
  (let ((script (plain-file "builder.sh" "echo from-file > $out\n")))
    (derivation
      (name "tofile") (system "x86_64-linux") (builder "/bin/sh")
      (args "-e" script)
      (env ("data" (plain-file "data.txt" (string-append "see " script "\n")))))))

(define escapes
  (derivation
    (name "escapes") (system "x86_64-linux") (builder "/bin/sh")
    (args "-c" "echo \"quoted\" 'single' \\\\ > $out" "tab\there")
    (env ("quotes" "a \"quoted\" word")
         ("backslashes" "one \\ two \\\\ end\\")
         ("newlines" "line 1\nline 2\n\nline 4\n")
         ("tabs" "\tcol1\tcol2\t")
         ("cr" "dos\r\nline\r")
         ("mixed" "\"\\\n\t\r\\\"")
         ("utf8" "é ü ∀ 😀")
         ("dollar" "$out ${not} $$")
         ("control" "bell\x07 esc\x1b[0m del\x7f soh\x01 end")
         ("empty" ""))))

(list hello two-outputs only-bin
      fixed-flat-base16 fixed-flat-nix32 fixed-flat-sri fixed-flat-prefixed
      fixed-recursive-base16 fixed-recursive-nix32 fixed-recursive-sri
      fixed-flat-sha1 fixed-recursive-sha512
      dependent dependent2 tofile escapes)
