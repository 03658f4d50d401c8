"""The employee's own page (/me/): sign-in with the employee code and a registration code or
password, the employee's record and contact media, LINE ID連携 with LINE Login, recent answers."""
