(list 1 #;)
