"""Stand-ins for what a deployment provides, run locally: the Kafka broker (`kafka`), a server speaking Twilio's
Messages API (`twilio_api`), and `ers worker` in a child process (`worker_process`). `ers up`, drills and the
tests use them; production points ERS at the real broker and Twilio instead."""
