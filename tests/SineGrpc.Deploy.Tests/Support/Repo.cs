namespace SineGrpc.Deploy.Tests.Support;

/// <summary>Paths in the repository these tests check.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Chart => Path.Combine(Root, "helm", "sine-grpc");

    public static string K8s => Path.Combine(Root, "k8s");

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "SineGrpc.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no SineGrpc.sln above {AppContext.BaseDirectory}");
    }
}
