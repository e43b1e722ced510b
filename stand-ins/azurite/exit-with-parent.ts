/**
 * Preloaded (node --require) into a fixture's child process started with an IPC channel (stand-ins/azurite/index.ts):
 * the process exits when its parent is gone. A test file that times out or crashes is killed without running
 * its cleanup; without this, its Azurite kept running and loading the machine for the runs after it.
 */
process.once('disconnect', () => process.exit(0));
// The channel alone must not keep the process alive: Azurite ends on SIGTERM by closing its server and letting
// the event loop run empty (a referenced channel made every stop wait for the SIGKILL grace period).
process.channel?.unref();
