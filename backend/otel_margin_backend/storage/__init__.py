"""Where usage becomes durable: connections, migrations, the COPY writer with rollups, and retention."""
