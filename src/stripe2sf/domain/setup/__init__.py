"""What the org needs: metadata, the doctor's checks, the mapping document."""
