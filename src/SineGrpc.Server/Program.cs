using SineGrpc.Server.Hosting;

await ServerApp.Create(args).RunAsync();
