(number->string "8")
