from cart_recovery.cli import main

main()
