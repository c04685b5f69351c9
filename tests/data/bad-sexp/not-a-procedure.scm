(define env ("K" "V"))
