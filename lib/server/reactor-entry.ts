/** Entry of a reactor process (the supervisor forks it through node:cluster). */
import { runReactorProcess } from './reactor-process';

void runReactorProcess();
