from voice_app.cli import main

main()
