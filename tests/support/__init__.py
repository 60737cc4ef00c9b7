"""What the tests share, and the only test code that tests import (no test file imports
another): the command line run in-process, as a subprocess or in a pseudo-terminal
(`helpers`), the Pilot helpers (`pilot`), the backend contract every backend passes
(`backend_contract`), the fault-injecting server (`fault_server`), remote backends made for
tests (`remote`) and the hostile text every path is sent (`hostile`)."""
