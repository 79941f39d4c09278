import { memoryAdapterFactory } from '../../adapters/memory-adapter.ts';
import { describeAdapterContract } from './adapter-contract.ts';

describeAdapterContract('MemoryAdapter', async () => ({ factory: memoryAdapterFactory({ clockTolerance: 0 }), teardown: async () => {} }));
