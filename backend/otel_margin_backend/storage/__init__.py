"""Where usage becomes durable: connections, exchanges written once for sync and async, migrations, the COPY writer
with rollups, and retention."""
