"""USDC deposits on chain: HD deposit addresses, the EVM and Solana scanners, and test tooling."""
