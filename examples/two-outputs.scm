;; A derivation with two outputs, "out" and "doc".  Each output's path is in
;; the builder's environment under its name ($out, $doc).  The first output
;; listed is the default: where the derivation is used as a string it
;; stands for "out"; (output greeting "doc") gives the other one.
(define greeting
  (derivation
    (name "greeting")
    (system %current-system)
    (builder "/bin/sh")
    (outputs "out" "doc")
    (args "-c" "echo 'Hello!' > $out; echo 'Say it with a smile.' > $doc")))

;; A second derivation that uses both outputs: both become its inputs.
(define leaflet
  (derivation
    (name "leaflet")
    (system %current-system)
    (builder "/bin/sh")
    (args "-c" (string-append "read g < " greeting "; read d < " (output greeting "doc")
                              "; echo \"$g $d\" > $out"))))

(list greeting leaflet)
