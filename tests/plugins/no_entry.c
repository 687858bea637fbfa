/* A shared object that is not a RemoteMedia plugin (no entry symbol). */
int rm_test_not_a_plugin(void);
int rm_test_not_a_plugin(void) { return 42; }
