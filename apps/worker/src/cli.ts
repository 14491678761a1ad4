console.log('spawnguard-worker: not built yet');
