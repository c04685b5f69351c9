(let ([x "a"]
      [y "b")
  (list x y))
