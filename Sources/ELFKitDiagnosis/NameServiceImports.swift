/// The C library functions that make glibc load NSS modules (`libnss_*.so.2`) with dlopen
/// at run time, by the nsswitch.conf database they consult. One list for doctor (which
/// checks the modules the databases name) and bundle (which warns that the modules come
/// from the host), both matched against ``VersionedImports/importedNames(of:)``.
package enum NameServiceImports {
    /// `hosts` (and `networks`): host name and address lookups.
    package static let hosts: Set<String> = [
        "getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r", "gethostbyname2_r",
        "gethostbyaddr", "gethostbyaddr_r",
    ]
    /// `passwd` and `group`: users and groups.
    package static let users: Set<String> = [
        "getpwnam", "getpwnam_r", "getpwuid", "getpwuid_r", "getpwent", "getgrnam", "getgrnam_r", "getgrgid",
        "getgrgid_r", "getgrent", "getgrouplist", "initgroups", "getlogin", "getlogin_r",
    ]
    /// The other databases: `shadow`, `services`, `protocols`, `netgroup`.
    package static let others: Set<String> = [
        "getspnam", "getspnam_r", "getservbyname", "getservbyname_r", "getservbyport", "getprotobyname",
        "getnetgrent", "innetgr",
    ]
    /// Every function above.
    package static let all: Set<String> = hosts.union(users).union(others)
}
