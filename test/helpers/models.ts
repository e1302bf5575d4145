/**
 * Where the real test models live: ../shared/models beside the repository (on every machine and
 * in CI, whatever the clone's path). They are data: read from there, never copied into the repo.
 */
import { resolve } from 'node:path';

export const SHARED_MODELS = resolve(__dirname, '../../../shared/models');
export const TINYSTORIES = `${SHARED_MODELS}/tinystories-656k`;
export const STORIES260K = `${SHARED_MODELS}/stories260k-gguf/stories260K.gguf`;
export const SMOLLM2_SHAPE = `${SHARED_MODELS}/smollm2-135m-shape`;
